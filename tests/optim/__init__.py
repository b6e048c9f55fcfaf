"""Tests of tapegrad.optim."""
