"""Streaming evaluation helpers: long negative audio (speech without the keywords) for false accepts per hour."""
