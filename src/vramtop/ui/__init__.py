"""vramtop's Textual TUI. Nothing outside this package imports it (the CLI does, lazily)."""
