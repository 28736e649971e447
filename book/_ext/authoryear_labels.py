"""Author-year labels in the bibliography ("Uhrig et al., 2017"), matching the author-year
citations in the text (``bibtex_reference_style: author_year``); pybtex's own styles
label entries alphabetically ("USS+17") or by number."""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx


def _surname(person) -> str:
    return " ".join(person.prelast_names + person.last_names) or " ".join(person.first_names)


class AuthorYearLabels(BaseLabelStyle):
    """'Surname, year', 'Surname and Other, year' or 'Surname et al., year'."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_surname(p) for p in people]
            if not names:
                who = entry.fields.get("title", entry.key)
            elif len(names) == 1:
                who = names[0]
            elif len(names) == 2:
                who = f"{names[0]} and {names[1]}"
            else:
                who = f"{names[0]} et al."
            yield f"{who}, {entry.fields.get('year', 'n.d.')}".replace("{", "").replace("}", "")


class AuthorYearStyle(UnsrtStyle):
    """pybtex's unsrt formatting, sorted by author, with author-year labels."""

    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app: Sphinx) -> dict[str, bool]:
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
