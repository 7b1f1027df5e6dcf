-- Placeholder for migration 3, which another branch of issue 9 adds; the
-- branch merged second deletes this file (migrations have no gaps).
SELECT 1;
