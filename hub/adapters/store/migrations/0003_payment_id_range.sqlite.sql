UPDATE sqlite_sequence SET seq = 999999999999 WHERE name = 'payments' AND seq < 999999999999;
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'payments', 999999999999 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'payments');
