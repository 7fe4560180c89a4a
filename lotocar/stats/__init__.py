"""Statistics: what the service achieves and where demand is left unserved (issue #6).

- `filters`: the period / territory / cause parsed from query strings (French errors).
- `operations`: plain functions reading the database and returning figures (no new table).
- `lines`: grouping of trips into corridors ("lignes virtuelles"), pure.
- `exports`: CSV exports, pseudonymised by default.
- `views`: staff pages under /statistiques/ and the public page /chiffres-cles; `flask stats`.
"""
