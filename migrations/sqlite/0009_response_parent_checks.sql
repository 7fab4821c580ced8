-- PostgreSQL only (its 0009 replaces the per-row foreign keys of `responses` by per-statement
-- checks). SQLite keeps its declared foreign keys: uploads there check them once per batch on
-- their own connection (src/store/uploads.rs), other writes row by row.
SELECT 1;
