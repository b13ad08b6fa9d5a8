"""Render results into documents: the terminal summary now, Markdown/JSON/CSV through templates later."""
