"""Every results table of the docs, rendered from the stamped JSON its command wrote.

`blocks` rewrites only the text between `<!-- results:NAME -->` and `<!-- /results:NAME -->`,
`tables` turns each NAME's JSON into markdown with its stamp, `collect` copies the newest
measurement of each kind (and the pictures) into docs/; `python -m stockcast.bench.results`
(`make results`) runs them.
"""
