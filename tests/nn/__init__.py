"""Tests of tapegrad.nn."""
