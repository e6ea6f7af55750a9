"""Question answering with the LLaMA-VID head (not built yet: see the README's "Not yet" section).

Will hold the head (context and content tokens), checkpoint loading, prompt assembly and answering; arrays in,
arrays out, like indexer/ and search/.
"""
