"""Tests that need a real NVIDIA GPU (marker `gpu`; skipped without one)."""
