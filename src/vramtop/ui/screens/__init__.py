"""Screens: main, detail, kill dialog, help."""
