-- Flink's (Java's) patterns work as Flink users write them.
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT sensor_id, DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') AS minute,
       ts + INTERVAL '1:30' MINUTE TO SECOND AS later
FROM traffic
WHERE ts > TO_TIMESTAMP('2026-01-01 00:00:05', 'yyyy-MM-dd HH:mm:ss');
