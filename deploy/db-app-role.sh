#!/bin/sh
# The role `breachindex serve` connects as (docs/operations.md, "Containers"). The postgres image
# runs the scripts in /docker-entrypoint-initdb.d once, on its first start with an empty data
# volume, as POSTGRES_USER, the schema's owner. This role owns nothing, so it can neither change
# the schema nor drop the audit log's triggers; the compose service `migrate` (`breachindex
# campaign grant-app-role`) gives it its rights on the tables, at every start.
# The password is read from its file by psql itself: it never appears on a command line.
breachindex_app_role() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        --set=role="${BREACHINDEX_APP_ROLE:-breachindex_app}" \
        --set=password_file="${BREACHINDEX_APP_PASSWORD_FILE:-/run/secrets/db_app_password}" <<'SQL'
\set password `cat :'password_file'`
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :'role', :'password')
\gexec
SQL
}
breachindex_app_role
