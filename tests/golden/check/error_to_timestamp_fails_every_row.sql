CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT sensor_id FROM traffic
WHERE ts > TO_TIMESTAMP('2026-01-01 00:00:05', 'yyyy/MM/dd HH:mm:ss');
