"""Importers: other projects' policy formats → Breakwater documents, with what did not carry over.

Each importer is a package of pure functions (documents in, documents and a
list of leftovers out); the `breakwater import` command reads the files and
writes the results.
"""
