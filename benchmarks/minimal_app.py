"""The baseline for benchmarks/tui_latency.py: a minimal Textual app that imports numpy and
shows an 8-row DataTable and a Footer; `s` updates one cell and moves the cursor."""

import numpy as np
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer


class Minimal(App[None]):
    BINDINGS = [Binding("s", "step", "Step"), Binding("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield DataTable(id="table")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "value")
        self.values = np.linspace(0.0, 1.0, 8)
        for i, value in enumerate(self.values):
            table.add_row(f"v{i}", f"{value:.4f}", key=f"v{i}")
        self.count = 0

    def action_step(self) -> None:
        table = self.query_one(DataTable)
        self.count += 1
        row = self.count % 8
        # six digits: as wide as the column, so every press shows a new text
        table.update_cell(f"v{row}", table.ordered_columns[1].key, f"{self.count:06d}")
        table.move_cursor(row=row)


if __name__ == "__main__":
    Minimal().run()
