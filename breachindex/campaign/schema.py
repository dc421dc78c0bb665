"""The campaign database's schema: ``MIGRATIONS``, applied in order by ``store.Store``
(SQLite) and ``pgstore.PgStore`` (PostgreSQL).

``schema_version`` holds one row per applied migration. To change the schema, append a
``Migration`` (never edit a released one).

A statement is written once, in SQL both databases take (``BIGINT``/``TEXT``/``BLOB``
columns, ``ON CONFLICT``, no SQLite-only functions); ``for_postgresql`` rewrites the few
spellings PostgreSQL wants differently: ``INTEGER PRIMARY KEY`` becomes an identity column,
``INTEGER`` ``BIGINT``, ``BLOB`` ``BYTEA``, ``TEXT`` ``TEXT COLLATE "C"`` (so that text sorts
bytewise as in SQLite, whatever the database's locale), and ``WITHOUT ROWID`` goes. Where the
two differ in substance (a trigger, a table rebuild SQLite needs and PostgreSQL does not), the
statement is a ``Variant`` holding each database's own, or None for "nothing to do here".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = ["Migration", "MIGRATIONS", "Variant", "Statement", "for_postgresql", "for_sqlite"]


@dataclass(frozen=True)
class Variant:
    """One step written for each database; None: the step does not apply there."""

    sqlite: str | None
    postgresql: str | None


Statement = Union[str, Variant]  # noqa: UP007 (a runtime alias: Python 3.10 has no str | Variant here)


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema: its version (1, 2, ...), what it does, its statements;
    ``foreign_keys_off``: run with foreign keys off, checked before commit (a table rebuild)."""

    version: int
    description: str
    statements: tuple[Statement, ...]
    foreign_keys_off: bool = False


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "participants, one-time codes, rate events, identity checks, settings", (
        # name -> value: the secret's fingerprint, so a store is never used with another secret
        """CREATE TABLE campaign_settings (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        # a participant is a number, known only by its keyed hash
        """CREATE TABLE participants (
            id TEXT PRIMARY KEY,
            created_us BIGINT NOT NULL,
            verified_us BIGINT,
            phone_sealed BLOB,
            failures INTEGER NOT NULL DEFAULT 0,
            wait_until_us BIGINT,
            locked_us BIGINT
        )""",
        # a one-time code: only its keyed hash; the sealed number rides along until it ends
        """CREATE TABLE challenges (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            code_hash BLOB NOT NULL,
            phone_sealed BLOB,
            created_us BIGINT NOT NULL,
            expires_us BIGINT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            used_us BIGINT,
            replaced_us BIGINT
        )""",
        "CREATE INDEX challenges_by_participant ON challenges (participant)",
        "CREATE INDEX challenges_by_expiry ON challenges (expires_us)",
        # one row per counted event and scope; subjects are keyed hashes (or a calling code)
        """CREATE TABLE rate_events (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            at_us BIGINT NOT NULL
        )""",
        "CREATE INDEX rate_events_lookup ON rate_events (scope, subject, at_us)",
        "CREATE INDEX rate_events_by_time ON rate_events (at_us)",
        # the outcome of an ID-document check: never the document itself
        """CREATE TABLE identity_checks (
            id INTEGER PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            reference TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'needs_review', 'error')),
            checked_us BIGINT NOT NULL,
            UNIQUE (participant, provider, reference, status)
        )""",
        "CREATE INDEX identity_checks_by_participant ON identity_checks (participant, checked_us)",
    )),
    Migration(2, "audit log and signed checkpoints, mandates, batches, requests and their history", (
        # the hash-chained log of every change of state (see audit.py); append-only
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at_us BIGINT NOT NULL,
            kind TEXT NOT NULL,
            participant TEXT,
            ref TEXT,
            payload TEXT NOT NULL,
            prev_hash BLOB NOT NULL,
            entry_hash BLOB NOT NULL
        )""",
        "CREATE INDEX audit_log_by_participant ON audit_log (participant)",
        "CREATE INDEX audit_log_by_ref ON audit_log (ref)",
        # signed tree heads over the log (see treehead.py); append-only
        """CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY,
            tree_size BIGINT NOT NULL,
            root_hash BLOB NOT NULL,
            signed_us BIGINT NOT NULL,
            key_id BLOB NOT NULL,
            signature BLOB NOT NULL
        )""",
        # a guard against mistakes, not against an attacker (who drops it): verification is the proof.
        # On PostgreSQL the triggers call one function, TRUNCATE is refused too, and the app role
        # may only insert and read (pgstore.grant_app_role)
        Variant(None, """CREATE FUNCTION breachindex_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$"""),
        Variant(
            """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION breachindex_append_only()"),
        Variant(
            """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION breachindex_append_only()"),
        Variant(
            """CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
            "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION breachindex_append_only()"),
        Variant(
            """CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
            "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION breachindex_append_only()"),
        Variant(None, "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                      "FOR EACH STATEMENT EXECUTE FUNCTION breachindex_append_only()"),
        Variant(None, "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
                      "FOR EACH STATEMENT EXECUTE FUNCTION breachindex_append_only()"),
        # the name the ID check confirmed, when the provider gives one (sealed, see sealing.py)
        "ALTER TABLE identity_checks ADD COLUMN name_sealed BLOB",
        # the exact texts signed, sealed, one row per distinct text
        """CREATE TABLE mandate_texts (
            sha256 TEXT PRIMARY KEY,
            text_sealed BLOB NOT NULL
        )""",
        # a signed mandate and its evidence; never deleted, never reused
        """CREATE TABLE mandates (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id),
            controller TEXT NOT NULL,
            template_version TEXT NOT NULL,
            text_sha256 TEXT NOT NULL REFERENCES mandate_texts (sha256),
            signed_us BIGINT NOT NULL,
            ends_us BIGINT NOT NULL,
            signer_name_sealed BLOB NOT NULL,
            name_source TEXT NOT NULL CHECK (name_source IN ('signed', 'identity_check')),
            ip_sealed BLOB NOT NULL,
            ip_lookup TEXT NOT NULL,
            user_agent_sealed BLOB NOT NULL,
            consents TEXT NOT NULL,
            verified_us BIGINT NOT NULL,
            identity_check INTEGER NOT NULL REFERENCES identity_checks (id),
            evidence_mac TEXT NOT NULL,
            log_seq BIGINT NOT NULL,
            log_hash BLOB NOT NULL,
            revoked_us BIGINT,
            revocation_sealed BLOB
        )""",
        "CREATE INDEX mandates_by_participant ON mandates (participant, controller)",
        "CREATE INDEX mandates_by_controller ON mandates (controller, signed_us)",
        "CREATE INDEX mandates_by_ip ON mandates (ip_lookup)",
        """CREATE TABLE mandate_scopes (
            mandate TEXT NOT NULL REFERENCES mandates (id),
            scope TEXT NOT NULL,
            PRIMARY KEY (mandate, scope)
        )""",
        "CREATE INDEX mandate_scopes_by_scope ON mandate_scopes (scope, mandate)",
        # a collective request to one controller, filed on one date
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            controller TEXT NOT NULL,
            scope TEXT NOT NULL,
            filing_date TEXT NOT NULL,
            created_us BIGINT NOT NULL,
            exported_us BIGINT,
            export_name TEXT,
            tree_size BIGINT
        )""",
        # one participant's request in a batch, and where it stands
        """CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            batch TEXT NOT NULL REFERENCES batches (id),
            participant TEXT NOT NULL REFERENCES participants (id),
            mandate TEXT NOT NULL REFERENCES mandates (id),
            controller TEXT NOT NULL,
            scope TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('draft', 'queued', 'sent', 'extended', 'needs_input', 'fulfilled',
                'partially_fulfilled', 'refused', 'overdue', 'admonished', 'complaint_filed', 'complaint_resolved',
                'closed', 'cancelled')),
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL,
            received_on TEXT,
            extension_on TEXT,
            notice TEXT CHECK (notice IN ('withdraw_from_filing', 'notify_controller')),
            notice_sent_us BIGINT
        )""",
        "CREATE INDEX requests_by_state ON requests (controller, state)",
        "CREATE INDEX requests_by_mandate ON requests (mandate)",
        "CREATE INDEX requests_by_participant ON requests (participant, controller, scope)",
        "CREATE INDEX requests_by_batch ON requests (batch)",
        # every state change of a request (the note, free text, sealed)
        """CREATE TABLE request_events (
            id INTEGER PRIMARY KEY,
            request TEXT NOT NULL REFERENCES requests (id),
            from_state TEXT,
            to_state TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            on_date TEXT NOT NULL,
            note_sealed BLOB,
            log_seq BIGINT NOT NULL
        )""",
        "CREATE INDEX request_events_by_request ON request_events (request, id)",
        # time spent waiting for information the controller asked for
        """CREATE TABLE request_pauses (
            id INTEGER PRIMARY KEY,
            request TEXT NOT NULL REFERENCES requests (id),
            started_on TEXT NOT NULL,
            ended_on TEXT
        )""",
        "CREATE INDEX request_pauses_by_request ON request_pauses (request, id)",
    )),
    Migration(3, "the encrypted vault: participants' key pairs, their wrapped private keys, stored items", (
        # a participant's vault key pair: only the public key is in clear (see breachindex.vault)
        """CREATE TABLE vault_keys (
            participant TEXT PRIMARY KEY REFERENCES participants (id),
            key_version INTEGER NOT NULL,
            public_key BLOB NOT NULL,
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL
        )""",
        # the private key wrapped under a key derived from the passphrase, or from the recovery
        # code; the Argon2id parameters beside it, so they can be raised and old wraps still open
        """CREATE TABLE vault_wraps (
            participant TEXT NOT NULL REFERENCES vault_keys (participant) ON DELETE CASCADE,
            slot TEXT NOT NULL CHECK (slot IN ('passphrase', 'recovery')),
            kdf TEXT NOT NULL,
            time_cost INTEGER NOT NULL,
            memory_kib INTEGER NOT NULL,
            parallelism INTEGER NOT NULL,
            salt BLOB NOT NULL,
            nonce BLOB NOT NULL,
            wrapped BLOB NOT NULL,
            created_us BIGINT NOT NULL,
            PRIMARY KEY (participant, slot)
        )""",
        # what a controller returned, encrypted to the participant's public key in a file of the
        # vault folder; the row holds no plaintext (the original name only sealed to that key)
        """CREATE TABLE vault_items (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES vault_keys (participant),
            key_version INTEGER NOT NULL,
            controller TEXT NOT NULL,
            request TEXT REFERENCES requests (id),
            partial INTEGER NOT NULL CHECK (partial IN (0, 1)),
            received_us BIGINT NOT NULL,
            size BIGINT NOT NULL,
            stored_size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            file_name TEXT NOT NULL UNIQUE,
            name_sealed BLOB,
            log_seq BIGINT NOT NULL
        )""",
        "CREATE INDEX vault_items_by_participant ON vault_items (participant, received_us)",
        "CREATE INDEX vault_items_by_request ON vault_items (request)",
    )),
    Migration(4, "identity checks: every change of an outcome's status is kept (no UNIQUE on the status)", (
        # SQLite's 12-step rebuild: a new table without UNIQUE (participant, provider, reference,
        # status), the rows copied with their ids (mandates.identity_check refers to them), the old
        # table dropped, the new one renamed, its index made again. No trigger or view uses it.
        Variant("""CREATE TABLE identity_checks_new (
            id INTEGER PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            reference TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'needs_review', 'error')),
            checked_us BIGINT NOT NULL,
            name_sealed BLOB
        )""", None),
        Variant(
            """INSERT INTO identity_checks_new (id, participant, provider, reference, status, checked_us, name_sealed)
            SELECT id, participant, provider, reference, status, checked_us, name_sealed FROM identity_checks""",
            None),
        Variant("DROP TABLE identity_checks", None),
        Variant("ALTER TABLE identity_checks_new RENAME TO identity_checks", None),
        Variant("CREATE INDEX identity_checks_by_participant ON identity_checks (participant, checked_us)", None),
        # PostgreSQL drops the constraint in place (its name: PostgreSQL's default for it)
        Variant(None, "ALTER TABLE identity_checks "
                      "DROP CONSTRAINT identity_checks_participant_provider_reference_status_key"),
    ), foreign_keys_off=True),
    Migration(5, "requesters of codes and their failures, shared budgets, mandates held for review", (
        # who asked for a challenge (keyed hashes of the requester's host and network, see
        # networks.py): a new code replaces only the same requester's, failures count against it
        "ALTER TABLE challenges ADD COLUMN host TEXT",
        "ALTER TABLE challenges ADD COLUMN network TEXT",
        "CREATE INDEX challenges_by_requester ON challenges (participant, host)",
        # wrong codes per number and requester: a stranger's failures never make the owner wait
        # (participants.failures/wait_until_us/locked_us, per number, are no longer used)
        """CREATE TABLE code_failures (
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            failures INTEGER NOT NULL,
            wait_until_us BIGINT,
            locked_us BIGINT,
            updated_us BIGINT NOT NULL,
            PRIMARY KEY (participant, host)
        )""",
        "CREATE INDEX code_failures_by_update ON code_failures (updated_us)",
        # the budgets every worker shares (budgets.py): token buckets and fixed-window quotas per
        # hashed subject, single-use tokens (solved puzzles), refusals by rule, keys' last use.
        # One B-tree each (WITHOUT ROWID, no second index): a charge writes as few pages as it can;
        # what is old is swept in the background, a slice at a time
        """CREATE TABLE budget_buckets (
            subject TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            at_us BIGINT NOT NULL,
            full_us BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_quotas (
            subject TEXT PRIMARY KEY,
            window_us BIGINT NOT NULL,
            used BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_spent (
            token TEXT PRIMARY KEY,
            expires_us BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_refusals (
            reason TEXT PRIMARY KEY,
            refused BIGINT NOT NULL
        )""",
        """CREATE TABLE api_key_usage (
            key_id TEXT PRIMARY KEY,
            last_used_us BIGINT NOT NULL
        )""",
        # a mandate held before any filing (mandates.py): why, the operator's sealed note when
        # cleared, and whether its text was checked against its template (NULL: recorded before
        # this version; Campaign checks those when it opens the store and logs any mismatch)
        "ALTER TABLE mandates ADD COLUMN review TEXT",
        "ALTER TABLE mandates ADD COLUMN review_note_sealed BLOB",
        "ALTER TABLE mandates ADD COLUMN template_checked INTEGER",
    )),
    Migration(6, "deadlines stored, not recomputed: a sent request keeps its statutory due date and calendar", (
        # the last day of the statutory period (one month, three once extended), without pauses
        "ALTER TABLE requests ADD COLUMN statutory_due_on TEXT",
        # calendars.FrozenCalendar as JSON: source, who chose it, holidays version, the days
        "ALTER TABLE requests ADD COLUMN deadline_calendar TEXT",
    )),
    Migration(7, "notifications: how a participant wants to be told, and every message sent or skipped", (
        # the person's choices: an e-mail address (sealed), channels allowed, language
        """CREATE TABLE contact_preferences (
            participant TEXT PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
            email_sealed BLOB,
            sms_allowed INTEGER NOT NULL DEFAULT 1,
            email_allowed INTEGER NOT NULL DEFAULT 1,
            lang TEXT NOT NULL DEFAULT 'nl' CHECK (lang IN ('nl', 'en')),
            updated_us BIGINT NOT NULL
        )""",
        # one row per event a participant is told of (kind + ref: the item, request or breach),
        # so that an event is told once; the outcome per channel is in the audit log
        """CREATE TABLE notifications (
            participant TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            PRIMARY KEY (participant, kind, ref)
        )""",
    )),
    Migration(8, "API keys in the store every host shares (the server's --api-keys may name the store)", (
        # one row per key: its entry as the key file holds it (id, name, scopes, quotas, expiry,
        # the SHA-256 of the key, never the key itself; see server/auth.py)
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            record TEXT NOT NULL,
            updated_us BIGINT NOT NULL
        )""",
    )),
    Migration(9, "a budget charge as one statement on PostgreSQL (nothing on SQLite)", (
        # budgets.take, statement for statement, run by the server: a charge's locks are then
        # held for the function's run, not across a round trip to the client (pgbudgets.py).
        # SQLite runs budgets.take itself; tests hold both to the same outcomes.
        Variant(None, """CREATE FUNCTION breachindex_charge(
            now_us BIGINT, lock_class INTEGER, lock_keys INTEGER[],
            b_subjects TEXT[], b_names TEXT[], b_rates DOUBLE PRECISION[], b_bursts DOUBLE PRECISION[],
            q_subjects TEXT[], q_names TEXT[], q_limits BIGINT[], q_windows BIGINT[],
            spend_token TEXT, token_expires_us BIGINT, touch_key TEXT,
            OUT allowed BOOLEAN, OUT reason TEXT, OUT retry_after DOUBLE PRECISION,
            OUT levels DOUBLE PRECISION[], OUT remaining BIGINT[], OUT reset_after DOUBLE PRECISION[])
        LANGUAGE plpgsql AS $charge$
        DECLARE
            k INTEGER;
            i INTEGER;
            tokens DOUBLE PRECISION;
            was_tokens DOUBLE PRECISION;
            was_at BIGINT;
            wait_s DOUBLE PRECISION;
            worst_wait DOUBLE PRECISION;
            worst_name TEXT;
            lefts DOUBLE PRECISION[] := '{}';
            fulls BIGINT[] := '{}';
            win BIGINT;
            was_window BIGINT;
            was_used BIGINT;
            used BIGINT;
            reset_s DOUBLE PRECISION;
            wins BIGINT[] := '{}';
            useds BIGINT[] := '{}';
        BEGIN
            levels := '{}';
            remaining := '{}';
            reset_after := '{}';
            FOREACH k IN ARRAY lock_keys LOOP  -- sorted by the caller: no two charges wait in a cycle
                PERFORM pg_advisory_xact_lock(lock_class, k);
            END LOOP;
            IF spend_token IS NOT NULL AND EXISTS (SELECT 1 FROM budget_spent s WHERE s.token = spend_token) THEN
                allowed := false;
                reason := 'token_spent';
                RETURN;
            END IF;
            FOR i IN 1 .. coalesce(array_length(b_subjects, 1), 0) LOOP
                SELECT b.tokens, b.at_us INTO was_tokens, was_at FROM budget_buckets b WHERE b.subject = b_subjects[i];
                IF FOUND THEN
                    tokens := LEAST(b_bursts[i],
                                    was_tokens + GREATEST(0, now_us - was_at)::float8 / 1e6::float8 * b_rates[i]);
                ELSE
                    tokens := b_bursts[i];
                END IF;
                IF tokens < 1.0::float8 THEN
                    wait_s := (1.0::float8 - tokens) / b_rates[i];
                    IF worst_name IS NULL OR wait_s > worst_wait THEN
                        worst_wait := wait_s;
                        worst_name := b_names[i];
                    END IF;
                END IF;
                levels := levels || tokens;
                lefts := lefts || (tokens - 1.0::float8);
                fulls := fulls || (now_us + trunc(GREATEST(0.0::float8, b_bursts[i] - (tokens - 1.0::float8))
                                                  / b_rates[i] * 1e6::float8)::bigint);
            END LOOP;
            FOR i IN 1 .. coalesce(array_length(q_subjects, 1), 0) LOOP
                win := now_us - now_us % q_windows[i];
                SELECT q.window_us, q.used INTO was_window, was_used
                    FROM budget_quotas q WHERE q.subject = q_subjects[i];
                used := CASE WHEN FOUND AND was_window = win THEN was_used ELSE 0 END;
                reset_s := (win + q_windows[i] - now_us)::float8 / 1e6::float8;
                reset_after := reset_after || reset_s;
                IF used >= q_limits[i] THEN
                    remaining := remaining || 0::bigint;
                    IF worst_name IS NULL OR reset_s > worst_wait THEN
                        worst_wait := reset_s;
                        worst_name := q_names[i];
                    END IF;
                ELSE
                    remaining := remaining || (q_limits[i] - used - 1);
                END IF;
                wins := wins || win;
                useds := useds || (used + 1);
            END LOOP;
            IF worst_name IS NOT NULL THEN  -- nothing is taken: every bucket keeps its level
                allowed := false;
                reason := worst_name;
                retry_after := worst_wait;
                RETURN;
            END IF;
            allowed := true;
            FOR i IN 1 .. coalesce(array_length(b_subjects, 1), 0) LOOP
                INSERT INTO budget_buckets (subject, tokens, at_us, full_us)
                    VALUES (b_subjects[i], lefts[i], now_us, fulls[i])
                ON CONFLICT (subject) DO UPDATE SET tokens = excluded.tokens, at_us = excluded.at_us,
                                                    full_us = excluded.full_us;
            END LOOP;
            FOR i IN 1 .. coalesce(array_length(q_subjects, 1), 0) LOOP
                INSERT INTO budget_quotas (subject, window_us, used) VALUES (q_subjects[i], wins[i], useds[i])
                ON CONFLICT (subject) DO UPDATE SET window_us = excluded.window_us, used = excluded.used;
            END LOOP;
            IF spend_token IS NOT NULL THEN
                INSERT INTO budget_spent (token, expires_us) VALUES (spend_token, token_expires_us);
            END IF;
            IF touch_key IS NOT NULL THEN
                INSERT INTO api_key_usage (key_id, last_used_us) VALUES (touch_key, now_us)
                ON CONFLICT (key_id) DO UPDATE SET last_used_us = excluded.last_used_us;
            END IF;
        END
        $charge$"""),
    )),
    Migration(10, "rate events of the campaign-wide caps also counted by the minute", (
        # a cap's check sums at most a day of minutes and scans one minute of events, instead of
        # every event of the day (limits.RateCounts); filled from the events already there
        """CREATE TABLE rate_minutes (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            minute BIGINT NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (scope, subject, minute)
        ) WITHOUT ROWID""",
        "INSERT INTO rate_minutes (scope, subject, minute, events) SELECT scope, subject, at_us / 60000000, COUNT(*) "
        "FROM rate_events WHERE scope IN ('send:country', 'send:all') GROUP BY scope, subject, at_us / 60000000",
    )),
    Migration(11, "a budget charge may take several units at once (a worker's lease of an API key's calls)", (
        # breachindex_charge of migration 9 with one more argument, units: the tokens of each bucket
        # and events of each quota taken, all or none (budgets.Charge.units); nothing on SQLite
        Variant(None, "DROP FUNCTION breachindex_charge(BIGINT, INTEGER, INTEGER[], TEXT[], TEXT[], "
                      "DOUBLE PRECISION[], DOUBLE PRECISION[], TEXT[], TEXT[], BIGINT[], BIGINT[], "
                      "TEXT, BIGINT, TEXT)"),
        Variant(None, """CREATE FUNCTION breachindex_charge(
            now_us BIGINT, lock_class INTEGER, lock_keys INTEGER[],
            b_subjects TEXT[], b_names TEXT[], b_rates DOUBLE PRECISION[], b_bursts DOUBLE PRECISION[],
            q_subjects TEXT[], q_names TEXT[], q_limits BIGINT[], q_windows BIGINT[],
            spend_token TEXT, token_expires_us BIGINT, touch_key TEXT, units INTEGER,
            OUT allowed BOOLEAN, OUT reason TEXT, OUT retry_after DOUBLE PRECISION,
            OUT levels DOUBLE PRECISION[], OUT remaining BIGINT[], OUT reset_after DOUBLE PRECISION[])
        LANGUAGE plpgsql AS $charge$
        DECLARE
            k INTEGER;
            i INTEGER;
            tokens DOUBLE PRECISION;
            was_tokens DOUBLE PRECISION;
            was_at BIGINT;
            wait_s DOUBLE PRECISION;
            worst_wait DOUBLE PRECISION;
            worst_name TEXT;
            lefts DOUBLE PRECISION[] := '{}';
            fulls BIGINT[] := '{}';
            win BIGINT;
            was_window BIGINT;
            was_used BIGINT;
            used BIGINT;
            reset_s DOUBLE PRECISION;
            wins BIGINT[] := '{}';
            useds BIGINT[] := '{}';
        BEGIN
            levels := '{}';
            remaining := '{}';
            reset_after := '{}';
            FOREACH k IN ARRAY lock_keys LOOP  -- sorted by the caller: no two charges wait in a cycle
                PERFORM pg_advisory_xact_lock(lock_class, k);
            END LOOP;
            IF spend_token IS NOT NULL AND EXISTS (SELECT 1 FROM budget_spent s WHERE s.token = spend_token) THEN
                allowed := false;
                reason := 'token_spent';
                RETURN;
            END IF;
            FOR i IN 1 .. coalesce(array_length(b_subjects, 1), 0) LOOP
                SELECT b.tokens, b.at_us INTO was_tokens, was_at FROM budget_buckets b WHERE b.subject = b_subjects[i];
                IF FOUND THEN
                    tokens := LEAST(b_bursts[i],
                                    was_tokens + GREATEST(0, now_us - was_at)::float8 / 1e6::float8 * b_rates[i]);
                ELSE
                    tokens := b_bursts[i];
                END IF;
                IF tokens < units::float8 THEN
                    wait_s := (units::float8 - tokens) / b_rates[i];
                    IF worst_name IS NULL OR wait_s > worst_wait THEN
                        worst_wait := wait_s;
                        worst_name := b_names[i];
                    END IF;
                END IF;
                levels := levels || tokens;
                lefts := lefts || (tokens - units::float8);
                fulls := fulls || (now_us + trunc(GREATEST(0.0::float8, b_bursts[i] - (tokens - units::float8))
                                                  / b_rates[i] * 1e6::float8)::bigint);
            END LOOP;
            FOR i IN 1 .. coalesce(array_length(q_subjects, 1), 0) LOOP
                win := now_us - now_us % q_windows[i];
                SELECT q.window_us, q.used INTO was_window, was_used
                    FROM budget_quotas q WHERE q.subject = q_subjects[i];
                used := CASE WHEN FOUND AND was_window = win THEN was_used ELSE 0 END;
                reset_s := (win + q_windows[i] - now_us)::float8 / 1e6::float8;
                reset_after := reset_after || reset_s;
                IF used + units > q_limits[i] THEN
                    remaining := remaining || GREATEST(0, q_limits[i] - used);
                    IF worst_name IS NULL OR reset_s > worst_wait THEN
                        worst_wait := reset_s;
                        worst_name := q_names[i];
                    END IF;
                ELSE
                    remaining := remaining || (q_limits[i] - used - units);
                END IF;
                wins := wins || win;
                useds := useds || (used + units);
            END LOOP;
            IF worst_name IS NOT NULL THEN  -- nothing is taken: every bucket keeps its level
                allowed := false;
                reason := worst_name;
                retry_after := worst_wait;
                RETURN;
            END IF;
            allowed := true;
            FOR i IN 1 .. coalesce(array_length(b_subjects, 1), 0) LOOP
                INSERT INTO budget_buckets (subject, tokens, at_us, full_us)
                    VALUES (b_subjects[i], lefts[i], now_us, fulls[i])
                ON CONFLICT (subject) DO UPDATE SET tokens = excluded.tokens, at_us = excluded.at_us,
                                                    full_us = excluded.full_us;
            END LOOP;
            FOR i IN 1 .. coalesce(array_length(q_subjects, 1), 0) LOOP
                INSERT INTO budget_quotas (subject, window_us, used) VALUES (q_subjects[i], wins[i], useds[i])
                ON CONFLICT (subject) DO UPDATE SET window_us = excluded.window_us, used = excluded.used;
            END LOOP;
            IF spend_token IS NOT NULL THEN
                INSERT INTO budget_spent (token, expires_us) VALUES (spend_token, token_expires_us);
            END IF;
            IF touch_key IS NOT NULL THEN
                INSERT INTO api_key_usage (key_id, last_used_us) VALUES (touch_key, now_us)
                ON CONFLICT (key_id) DO UPDATE SET last_used_us = excluded.last_used_us;
            END IF;
        END
        $charge$"""),
    )),
    Migration(12, "an audit entry's hash computed where it is inserted (a function on PostgreSQL; SQLite's "
                  "store registers its own)", (
        # SHA-256(prev_hash || body), the body being ``head`` (its canonical JSON up to the seq,
        # the last key) and the seq: an append can then take the chain's tail in its insert,
        # with no round trip between reading the tail and writing the entry (AuditLog.append_where).
        # STABLE, as convert_to is: the planner then inlines it into the insert (declared
        # IMMUTABLE it would not, and a SQL function not inlined is planned again at every call)
        Variant(None, """CREATE FUNCTION audit_entry_hash(prev BYTEA, head TEXT, seq BIGINT) RETURNS BYTEA
        LANGUAGE sql STABLE STRICT PARALLEL SAFE
        AS $hash$ SELECT sha256(prev || convert_to(head || seq::text || '}', 'UTF8')) $hash$"""),
    )),
    Migration(13, "the campaign-wide caps' events counted by the hour as well as by the minute, in one table", (
        # a cap's check then sums at most a day of hours, the minutes of the hour its window
        # starts in and one minute of events, instead of a day of minutes: at the end of a busy
        # day that sum was a large part of a send's time on PostgreSQL (limits.question_sql). One table,
        # so that a send counts its minutes and hours in one upsert, whose rows every send locks
        # in the same order (two upserts could deadlock when two paths ran them in turn)
        """CREATE TABLE rate_spans (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            span_us BIGINT NOT NULL,
            start BIGINT NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (scope, subject, span_us, start)
        ) WITHOUT ROWID""",
        "INSERT INTO rate_spans (scope, subject, span_us, start, events) "
        "SELECT scope, subject, 60000000, minute, events FROM rate_minutes",
        "INSERT INTO rate_spans (scope, subject, span_us, start, events) "
        "SELECT scope, subject, 3600000000, minute / 60, SUM(events) FROM rate_minutes "
        "GROUP BY scope, subject, minute / 60",
        "DROP TABLE rate_minutes",
    )),
)


_PG_REWRITES = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
    (re.compile(r"\)\s*WITHOUT ROWID\s*$"), ")"),
)


def for_sqlite(statement: Statement) -> str | None:
    """The statement SQLite runs (None: nothing)."""
    return statement.sqlite if isinstance(statement, Variant) else statement


def for_postgresql(statement: Statement) -> str | None:
    """The statement PostgreSQL runs (None: nothing): a Variant's own, or the shared one with
    the column types and clauses rewritten (see the module documentation)."""
    if isinstance(statement, Variant):
        return statement.postgresql
    if not statement.lstrip().upper().startswith(("CREATE TABLE", "ALTER TABLE")):
        return statement
    for pattern, replacement in _PG_REWRITES:
        statement = pattern.sub(replacement, statement)
    return statement
