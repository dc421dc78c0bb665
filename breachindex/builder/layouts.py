"""Field layouts of leak files (reader ``facebook-2021``) and the data classes they carry.

The 2021 Facebook dump came as one text file per country, one record per line, fields separated
by ``:`` with no header and no quoting (times inside fields use ``-`` instead of ``:``); the UK
came as CSV with a header row. The first field is always the phone number, country code first,
no ``+``. A record has data class ``phone_number`` always, and one class per non-empty field as
mapped below.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATA_CLASSES",
    "Layout",
    "LAYOUTS",
    "FB17",
    "FB12",
    "CSV_COLUMNS",
    "csv_layout",
]

#: Fixed data class names, in the order of their bits in a class mask.
DATA_CLASSES: tuple[str, ...] = (
    "phone_number",
    "facebook_id",
    "name",
    "gender",
    "location",
    "hometown",
    "relationship_status",
    "employer",
    "email_address",
    "date_of_birth",
    "account_dates",
)

#: field name -> data class it reveals (fields not listed reveal none)
FIELD_CLASS: dict[str, str] = {
    "phone": "phone_number",
    "facebook_id": "facebook_id",
    "first_name": "name",
    "last_name": "name",
    "gender": "gender",
    "location": "location",
    "hometown": "hometown",
    "relationship_status": "relationship_status",
    "employer": "employer",
    "email": "email_address",
    "birth_date": "date_of_birth",
    "created_at": "account_dates",
    "updated_at": "account_dates",
}


@dataclass(frozen=True)
class Layout:
    """How to read one file: separator, field names in order, CSV or not."""

    name: str
    fields: tuple[str, ...]
    separator: str = ":"
    csv: bool = False  # a header row, RFC 4180 quoting within a line

    @property
    def phone_field(self) -> int:
        return self.fields.index("phone")

    def class_mask_of_field(self, i: int) -> int:
        """Bit mask (over DATA_CLASSES) that a non-empty field i contributes."""
        cls = FIELD_CLASS.get(self.fields[i]) if i < len(self.fields) else None
        return 0 if cls is None else 1 << DATA_CLASSES.index(cls)


#: phone:facebook_id:first_name:last_name:gender:location:hometown:relationship_status:employer:
#: updated_at:email:extra_1..extra_5:created_at (17 fields; the five extra fields are seen empty
#: or with data we do not classify)
FB17 = Layout(
    "fb17",
    ("phone", "facebook_id", "first_name", "last_name", "gender", "location", "hometown",
     "relationship_status", "employer", "updated_at", "email", "extra_1", "extra_2", "extra_3",
     "extra_4", "extra_5", "created_at"),
)

#: phone:facebook_id:first_name:last_name:gender:location:hometown:relationship_status:employer:
#: created_at:email:birth_date (12 fields)
FB12 = Layout(
    "fb12",
    ("phone", "facebook_id", "first_name", "last_name", "gender", "location", "hometown",
     "relationship_status", "employer", "created_at", "email", "birth_date"),
)

#: CSV header names we recognise (lower-cased, spaces and dashes as underscores) -> field name
CSV_COLUMNS: dict[str, str] = {
    "phone": "phone", "phone_number": "phone", "mobile": "phone", "msisdn": "phone",
    "facebook_id": "facebook_id", "id": "facebook_id", "uid": "facebook_id", "user_id": "facebook_id",
    "first_name": "first_name", "firstname": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name",
    "gender": "gender", "sex": "gender",
    "location": "location", "current_city": "location", "city": "location",
    "hometown": "hometown", "home_town": "hometown",
    "relationship_status": "relationship_status", "relationship": "relationship_status",
    "employer": "employer", "work": "employer", "workplace": "employer",
    "email": "email", "email_address": "email", "e_mail": "email",
    "birth_date": "birth_date", "birthday": "birth_date", "date_of_birth": "birth_date",
    "dob": "birth_date",
    "created_at": "created_at", "created_time": "created_at", "created": "created_at",
    "updated_at": "updated_at", "updated_time": "updated_at",
}


def csv_layout(header: list[str]) -> Layout | None:
    """A CSV layout from a header row, or None if it has no phone column."""
    fields = []
    for i, column in enumerate(header):
        norm = column.strip().strip('"').lower().replace(" ", "_").replace("-", "_")
        fields.append(CSV_COLUMNS.get(norm, f"column_{i}"))
    if "phone" not in fields:
        return None
    return Layout("csv", tuple(fields), separator=",", csv=True)


LAYOUTS: dict[str, Layout] = {"fb17": FB17, "fb12": FB12}
