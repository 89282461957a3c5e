"""Widgets: GPU cards, memory bar and timeline, process table, status line, badges."""
