SELECT setval(pg_get_serial_sequence('payments', 'id'),
              GREATEST((SELECT COALESCE(MAX(id), 0) FROM payments), 999999999999));
