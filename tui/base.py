"""What every store-backed screen shares: the store, and a reload on every change."""

from __future__ import annotations

from textual.screen import Screen

from eibench.harness.store import Store


class LiveScreen(Screen[None]):
    """A screen that shows data from the store and re-reads it when the store changes.

    The app calls :meth:`store_changed` when the watcher reports a change while the screen is on
    top; a screen coming back to the top re-reads if anything was written while it was hidden.
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._mounted = False
        self._seen: int | None = None

    def prepare(self) -> None:
        """Set up widgets once mounted (columns, focus); runs before the first :meth:`reload`."""

    def reload(self) -> None:
        """Re-read what the screen shows from the store."""
        raise NotImplementedError

    def _read(self) -> None:
        # the counter is read first, so a write that lands during the reload is not missed
        self._seen = self.store.change_counter()
        self.reload()

    def store_changed(self) -> None:
        """Called by the app when the store changed; ignored until the screen is mounted."""
        if self._mounted:
            self._read()

    def on_mount(self) -> None:
        self.prepare()
        self._mounted = True
        self._read()

    def on_screen_resume(self) -> None:
        if self._mounted and self.store.change_counter() != self._seen:
            self._read()
