"""Lay out the MOD.209 pages whose exact cell positions are not published.

The official geometry covers Modulo 1 pages 1-3 (pipeline/form/data/modulo1-p1-3.official.yaml).
Pages 4-8 of Modulo 1 and the three pages of Modulo 2 are laid out here on the same grid
(cell 13.174 x 18.844 pt, pitch 17.004 pt, first cell at x = 45.23 pt, rows of a multi-row
field 23.9 pt apart), from the section lists in shared/mod209/MOD209.md sections 2-3.
Field numbers follow the official numbering; where a number's purpose is not confirmed by
the sources the field carries an `uncertain:` note.

Run it to regenerate the two YAML files (the output is committed; the form model loads it):

    python tools/layout_unofficial_pages.py
"""

from __future__ import annotations

from pathlib import Path

X0 = 45.23
PITCH = 17.004
ROW = 23.9  # next row of the same field
LABEL_ROW = 12.3  # a label line above a run
GAP = 8.0  # between fields

OUT = Path(__file__).resolve().parent.parent / "pipeline" / "form" / "data"


def col(c: float) -> float:
    return round(X0 + c * PITCH, 2)


class Page:
    def __init__(self, number: int, top: float) -> None:
        self.number = number
        self.y = top
        self.fields: dict[str, dict] = {}
        self.headings: list[dict] = []
        self.sections: list[dict] = []
        self.boxes: list[dict] = []

    def section(self, title: str, note: str | None = None) -> None:
        self.y += 6
        entry = {"y": round(self.y, 2), "title": title}
        if note:
            entry["note"] = note
        self.sections.append(entry)
        self.y += 22

    def heading(self, number: str, text: str, note: str | None = None) -> None:
        entry = {"id": number, "y": round(self.y, 2), "x": X0, "text": text}
        if note:
            entry["note"] = note
        self.headings.append(entry)
        self.y += LABEL_ROW + 2

    def _add(self, fid: str, spec: dict, label: str, note, table, uncertain) -> None:
        assert fid not in self.fields, fid
        spec = dict(spec)
        if table:
            spec["table"] = table
        if note:
            spec["note"] = note
        spec["label"] = label
        if uncertain:
            spec["uncertain"] = uncertain
        self.fields[fid] = spec

    def wide(self, fid, kind, label, rows=1, cells=30, note=None, table=None, uncertain=None):
        """A field whose label sits above its runs (names, addresses)."""
        self.y += LABEL_ROW
        runs = []
        for r in range(rows):
            runs.append([col(0), round(self.y + r * ROW, 2), cells])
        self._add(fid, {"kind": kind, "runs": runs}, label, note, table, uncertain)
        self.y += (rows - 1) * ROW + 18.844 + GAP

    def row(self, items) -> None:
        """Fields side by side on one row, each label to the left of its cells.

        items: (fid, kind, label, start column, cells | "date", note, table, uncertain)
        """
        for fid, kind, label, c, cells, *rest in items:
            note, table, uncertain = (list(rest) + [None, None, None])[:3]
            if kind == "date":
                runs = [[col(c), round(self.y, 2), 2], [col(c + 3), round(self.y, 2), 2],
                        [col(c + 6), round(self.y, 2), 4]]
            else:
                runs = [[col(c), round(self.y, 2), cells]]
            self._add(fid, {"kind": kind, "runs": runs}, label, note, table, uncertain)
        self.y += 18.844 + GAP

    def options(self, fid, label, choices, note=None, uncertain=None) -> None:
        """A SI/NO style field: one box per option on one row."""
        opts = {name: [col(c), round(self.y, 2)] for name, c in choices}
        self._add(fid, {"kind": "check", "options": opts}, label, note, None, uncertain)
        self.y += 18.844 + GAP

    def dump(self) -> dict:
        out: dict = {"fields": self.fields}
        if self.headings:
            out["headings"] = self.headings
        if self.sections:
            out["sections"] = self.sections
        if self.boxes:
            out["boxes"] = self.boxes
        return out


def person_block(p: Page, first: int, title_note: str | None = None) -> None:
    """Cognome, nome, sesso, nato/a il, Stato di nascita, cittadinanza, citta di nascita."""
    n = first
    p.wide(str(n), "text", "Cognome", note="a")
    p.wide(str(n + 1), "text", "Nome", note="a")
    p.row([
        (str(n + 2), "code", "Sesso", 4, 1, "j", "sesso"),
        (str(n + 3), "date", "Nato/a il", 14, "date", "a"),
    ])
    p.row([
        (str(n + 4), "code", "Codice Stato di nascita", 8, 3, "k", "stato"),
        (str(n + 5), "code", "Codice Stato di cittadinanza", 23, 3, "k", "stato"),
    ])
    p.wide(str(n + 6), "text", "Città di nascita")


def modulo1() -> dict:
    pages = {}
    p = Page(4, 60)
    p.section("Sezione 9 - Dati per la carta di soggiorno", note="s")
    p.heading("86", "Certificazione di idoneità alloggiativa", note="t")
    p.row([("87", "date", "Data di rilascio", 8, "date", "t")])
    p.row([("88", "check", "Rilasciata dal Comune", 8, 1, "t"),
           ("89", "check", "Rilasciata dalla ASL", 20, 1, "t")])
    p.row([("90", "code", "Provincia", 8, 2, "t", "province"),
           ("91", "text", "Numero certificato", 16, 14, "t", None,
            "purpose of field 91 not confirmed by the sources")])
    p.wide("92", "text", "Comune", note="t")
    p.wide("93", "text", "Indirizzo dell'alloggio", note="t",
           uncertain="purpose of field 93 not confirmed by the sources")
    p.row([("94", "check", "Dichiara di aver soggiornato regolarmente in Italia", 27, 1, "t")])
    p.heading("95", "Luoghi di soggiorno negli ultimi sei anni", note="t")
    for b in range(4):
        base = 96 + 3 * b
        p.row([(str(base), "code", f"{b + 1}. Provincia", 8, 2, "t", "province")])
        p.row([(str(base + 1), "text", "Comune", 4, 26, "t")])
        p.row([(str(base + 2), "text", "Indirizzo", 4, 26, "t")])
    pages[4] = p.dump()

    p = Page(5, 60)
    p.heading("108", "Residenza attuale", note="t")
    p.row([("109", "code", "Provincia", 8, 2, "t", "province")])
    p.wide("110", "text", "Comune", note="t")
    p.wide("111", "text", "Indirizzo", note="t")
    p.section("Istanza collegata")
    p.heading("112", "Istanza collegata a quella presentata da")
    p.options("113", "Coniuge", [("SI", 22), ("NO", 27)])
    p.wide("114", "text", "Cognome del coniuge",
           uncertain="fields 114-115 (spouse's name) not confirmed by the sources")
    p.wide("115", "text", "Nome del coniuge",
           uncertain="fields 114-115 (spouse's name) not confirmed by the sources")
    p.options("116", "Genitore", [("SI", 22), ("NO", 27)])
    p.wide("117", "text", "Cognome del genitore",
           uncertain="fields 117-118 (parent's name) not confirmed by the sources")
    p.wide("118", "text", "Nome del genitore",
           uncertain="fields 117-118 (parent's name) not confirmed by the sources")
    p.section("Sezione 10 - Familiari a carico conviventi", note="s")
    p.row([("120", "digits", "Numero persone conviventi a carico", 14, 2, "s")])
    p.heading("121", "Rapporto di parentela", note="s")
    p.row([("122", "check", "Coniuge", 8, 1, "s"),
           ("123", "check", "Figli", 16, 1, "s"),
           ("124", "digits", "Numero figli", 24, 2, "s")])
    p.row([("125", "check", "Altro", 8, 1, "s")])
    p.wide("126", "text", "Specificare", note="s")
    pages[5] = p.dump()

    p = Page(6, 60)
    p.section("Sezione 11 - Dati del coniuge")
    p.heading("127", "Coniuge")
    person_block(p, 128)
    p.row([("135", "text", "Codice fiscale", 8, 16, None, None,
            "field 135 (spouse's codice fiscale) not confirmed by the sources")])
    p.section("Sezione 12 - Figli minori di 14 anni", note="u")
    p.heading("136", "Figlio/a 1")
    person_block(p, 137)
    pages[6] = p.dump()

    for page_no, blocks in ((7, (2, 3)), (8, (4, 5))):
        p = Page(page_no, 60)
        p.section("Sezione 12 - Figli minori di 14 anni (CONTINUA)", note="u")
        for k in blocks:
            p.heading(f"child{k}", f"Figlio/a {k}")
            person_block(p, 137 + 7 * (k - 1))
        if page_no == 8:
            p.row([("172", "text", "Luogo", 4, 20, None, None,
                    "fields 172-173 (place and date) not confirmed by the sources"),
                   ])
            p.row([("173", "date", "Data", 4, "date", None, None,
                    "fields 172-173 (place and date) not confirmed by the sources")])
        pages[page_no] = p.dump()
    return pages


def modulo1_header_boxes() -> list[dict]:
    import yaml

    furniture = yaml.safe_load((OUT / "layout-p1-3.yaml").read_text(encoding="utf-8"))
    return [{"name": b["name"], "box": list(b["box"])} for b in furniture["pages"][1]["boxes"]]


def modulo2() -> dict:
    pages = {}
    p = Page(1, 150)
    # Modulo 2 carries the same header as Modulo 1 page 1 (MOD209.md section 3): the same
    # positions as the official geometry of that header.
    p.fields["questore"] = {"kind": "line", "box": [181, 49, 252, 14],
                            "label": "Al Signor Questore di"}
    p.fields["questore_sigla"] = {"kind": "code", "table": "province",
                                  "runs": [[177.12, 67.84, 2, 14.16, 19.92, 17.28]],
                                  "label": "Sigla Provincia"}
    # ... and the same two header spaces (revenue stamp, Codice Istanza), copied from where
    # our furniture file puts them on Modulo 1 page 1 so that the two headers stay alike.
    p.boxes = modulo1_header_boxes()
    p.section("Sezione 1 - Tipologie di lavoro")
    p.heading("3", "Attività")
    p.row([("4", "check", "Lavoro subordinato", 8, 1), ("5", "check", "Lavoro autonomo", 18, 1),
           ("6", "check", "Altro", 26, 1)])
    p.heading("7", "Contratto di lavoro subordinato", note="v")
    p.row([("8", "check", "Tempo indeterminato", 8, 1, "v"),
           ("9", "check", "Tempo determinato", 18, 1, "v"),
           ("10", "check", "Stagionale", 26, 1, "v")])
    p.row([("11", "digits", "Durata (mesi)", 8, 2, "v"), ("12", "check", "Altro", 18, 1, "v"),
           ("13", "digits", "Durata (giorni)", 26, 3, "v")])
    p.heading("14", "Lavoro autonomo")
    p.row([("15", "check", "Titolare", 6, 1), ("16", "check", "Socio", 13, 1),
           ("17", "check", "Libero professionista", 23, 1), ("18", "check", "Altro", 29, 1)])
    p.wide("19", "text", "Mansione")
    p.section("Sezione 2 - Datore di lavoro", note="v")
    p.heading("21", "Persona giuridica", note="v")
    p.wide("22", "text", "Denominazione", rows=2, note="v")
    p.row([("23", "digits", "Codice fiscale", 8, 11, "v")])
    p.row([("24", "digits", "Partita IVA", 8, 11, "v"),
           ("25", "digits", "Matricola INPS", 22, 8, "v")])
    p.heading("26", "Persona fisica", note="v")
    p.row([("27", "text", "Numero permesso/carta di soggiorno", 16, 14, "v")])
    p.wide("28", "text", "Cognome", note="v")
    p.wide("29", "text", "Nome", note="v")
    p.row([("30", "date", "Nato/a il", 8, "date", "v")])
    p.row([("31", "text", "Codice fiscale", 8, 16, "v")])
    p.row([("32", "digits", "Partita IVA", 8, 11, "v")])
    pages[1] = p.dump()

    p = Page(2, 60)
    p.section("Sezione 3 - Contratto di soggiorno")
    p.heading("33", "Il contratto di soggiorno è stato")
    p.row([("34", "check", "Sottoscritto presso lo Sportello Unico di", 14, 1),
           ("35", "code", "Provincia", 20, 2, None, "province")])
    p.row([("36", "date", "In data", 8, "date")])
    p.row([("37", "check", "Inviato allo Sportello Unico di", 14, 1),
           ("38", "code", "Provincia", 20, 2, None, "province")])
    p.row([("39", "text", "Con raccomandata numero", 10, 12)])
    p.row([("40", "date", "In data", 8, "date")])
    p.section("Sezione 4 - Lavoro autonomo")
    p.heading("41", "Impresa o attivita")
    p.wide("42", "text", "Denominazione", rows=2)
    p.row([("43", "text", "Codice fiscale", 8, 16)])
    p.row([("44", "digits", "Partita IVA", 8, 11)])
    p.row([("45", "text", "Posizione INPS", 8, 10)])
    p.row([("46", "code", "Iscrizione CCIAA di", 8, 2, None, "province"),
           ("47", "text", "Numero", 16, 10)])
    p.row([("48", "date", "Data iscrizione", 8, "date")])
    p.wide("49", "text", "Albo professionale (categoria)", note="w")
    p.row([("50", "date", "Data iscrizione all'albo", 8, "date", "w")])
    pages[2] = p.dump()

    p = Page(3, 60)
    p.section("Sezione 5 - Reddito")
    p.heading("51", "Reddito annuo")
    p.row([("53", "digits", "Importo annuo (euro)", 10, 7),
           ("54", "digits", "Ultima dichiarazione (anno)", 26, 4)])
    p.heading("52", "Documentazione del reddito")
    p.row([("55", "check", "Unico PF", 6, 1), ("56", "check", "Unico SP", 13, 1),
           ("57", "check", "Unico SC", 20, 1), ("58", "check", "Unico ENC", 28, 1)])
    p.row([("59", "check", "CUD", 6, 1), ("60", "check", "Busta paga", 13, 1),
           ("61", "check", "Bollettino INPS", 22, 1)])
    p.row([("62", "digits", "Importo mensile (euro)", 10, 6, "x")])
    p.row([("63", "check", "Attività autonoma iniziata nell'anno in corso", 27, 1, "y")])
    p.section("Sezione 6 - Centro per l'impiego")
    p.heading("64", "Iscrizione al Centro per l'impiego")
    p.row([("65", "date", "Data iscrizione", 8, "date"),
           ("66", "code", "Provincia", 25, 2, None, "province")])
    p.wide("67", "text", "Città")
    p.row([("68", "text", "Circoscrizione", 8, 10)])
    pages[3] = p.dump()
    return pages


HEADER = """# {title}
# Generated by tools/layout_unofficial_pages.py: our layout on the official grid
# (cell 13.174 x 18.844 pt, pitch 17.004 pt, left margin 45.23 pt), because the exact
# positions of these pages are not published (shared/mod209/MOD209.md section 2).
# Field numbers are the official ones; `uncertain` marks numbers whose purpose the
# sources do not confirm. Units: PDF points, origin top-left, A4 595 x 842.
"""


def main() -> None:
    import yaml

    for name, title, pages in (
        ("modulo1-p4-8.yaml", "MOD.209 Modulo 1, pages 4-8", modulo1()),
        ("modulo2.yaml", "MOD.209 Modulo 2, pages 1-3", modulo2()),
    ):
        for number, page in pages.items():
            bottom = max((r[1] for f in page["fields"].values() for r in f.get("runs", [])),
                         default=0)
            assert bottom + 18.844 < 812, (name, number, bottom)
        text = HEADER.format(title=title) + yaml.safe_dump(
            {"pages": pages}, sort_keys=False, allow_unicode=True, width=100,
            default_flow_style=None,
        )
        (OUT / name).write_text(text, encoding="utf-8")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
