"""A reviewer's typed correction, checked before it is taken.

Refused (DecisionError, the value stays in the box with the reason): what contradicts the form
itself (`extractors.decode.contradiction`: a digit in a name, a letter in a digit field, an
impossible date) and what cannot be normalised (web/review.py). Asked to be confirmed
(DecisionError key `not_in_table`, taken when sent again with `force`): a well-formed value
missing from its table (a comune not in the ISTAT list, a code not in its coded table) and a
codice fiscale whose check character is wrong; the reviewer may be copying what the applicant
wrote, and the validation then raises the anomaly.
"""

from __future__ import annotations

from extractors.decode import contradiction, is_cf_field
from validators.codice_fiscale import check as cf_check
from validators.coded_tables import is_valid
from storage.index import QUESTURA_FIELD
from web.review import DecisionError, form_field, normalise_value


def check_value(key: str, raw: str) -> None:
    """Raise DecisionError when `raw` should not be taken for field `key` as typed. The
    header's province is not checked here: it can only be a province, with no confirmation,
    and changing it is a transfer (`web.review.decide_field`)."""
    if key == QUESTURA_FIELD:
        return
    f = form_field(key)
    value = normalise_value(key, raw)
    if f is None or not isinstance(value, str) or not value:
        return
    if is_cf_field(f):  # any codice fiscale field, the family members' copies too
        cf = cf_check(value)
        if not cf.well_formed:
            raise DecisionError("bad_cf", "not a codice fiscale (16 characters)", value=value)
        if not cf.check_ok:  # as typed on the form, perhaps: confirmable
            raise DecisionError("not_in_table", "the codice fiscale's check character is wrong",
                                value=value, table="codice fiscale")
        return
    reason = contradiction(f, value)
    if reason == "comune_not_in_istat":
        raise DecisionError("not_in_table", f"{value} is not a comune of the ISTAT list",
                            value=value, table="ISTAT")
    if reason is not None:
        raise DecisionError(f"bad_{reason}", reason, value=value)
    if f.table and not is_valid(f.table, value):
        raise DecisionError("not_in_table", f"{value} is not in the table {f.table}",
                            value=value, table=f.table)
