"""scenedex: the edge of the system (settings, command line, wiring).

Everything below this package (indexer/, search/, qa/, db/, workers/) receives plain typed values.
"""
