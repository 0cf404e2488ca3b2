"""Keep a DataTable in step with freshly read rows without rebuilding it on every change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class OpenTable(DataTable[Any]):
    """A row-cursor table whose Enter key (select the row) is listed in the footer as Open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open"),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

class TableSync:
    """Mirrors a list of keyed records into a :class:`DataTable`.

    Rows whose record did not change are left alone; changed rows get their cells updated; rows
    appended at the end are added; any other change (new order, rows gone) rebuilds the table and
    puts the cursor back on the row it was on.

    Args:
        table: the table, with its columns already added (keys given to ``add_column``).
        columns: the column keys, in order.
        cells: turns one record into the cells of its row.
    """

    def __init__(self, table: DataTable[Any], columns: Sequence[str],
                 cells: Callable[[Any], Sequence[Any]]) -> None:
        self.table = table
        self.columns = list(columns)
        self.cells = cells
        self.keys: list[str] = []
        self.records: dict[str, Any] = {}

    def sync(self, items: Sequence[tuple[str, Any]]) -> None:
        """Show ``items`` ((row key, record) pairs, in display order)."""
        table = self.table
        new_keys = [key for key, _ in items]
        if new_keys[:len(self.keys)] == self.keys and len(set(new_keys)) == len(new_keys):
            for key, record in items[:len(self.keys)]:
                if self.records[key] != record:
                    for column, value in zip(self.columns, self.cells(record), strict=True):
                        table.update_cell(key, column, value)
                    self.records[key] = record
            tail = items[len(self.keys):]
            if tail:
                for key, record in tail:
                    table.add_row(*self.cells(record), key=key)
                    self.records[key] = record
                self.keys.extend(key for key, _ in tail)
            return
        current = self.current_key()
        table.clear()
        self.keys, self.records = [], {}
        for key, record in items:
            table.add_row(*self.cells(record), key=key)
            self.records[key] = record
        self.keys = new_keys
        if current in self.records:
            table.move_cursor(row=self.keys.index(current), animate=False, scroll=True)

    def current_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.keys or self.table.cursor_row < 0 or self.table.cursor_row >= len(self.keys):
            return None
        return self.keys[self.table.cursor_row]
