CREATE TABLE a WITH ('connector' = 'generator', 'events' = '100', 'seed' = '1');
CREATE TABLE b WITH ('connector' = 'generator', 'events' = '100', 'seed' = '2');
CREATE VIEW fast AS SELECT sensor_id, speed FROM a WHERE speed > 80;
CREATE VIEW very_fast AS SELECT sensor_id, speed FROM fast WHERE speed > 100;
CREATE TABLE out (sensor BIGINT, speed DOUBLE) WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT sensor_id, speed FROM very_fast
UNION ALL
SELECT sensor_id, speed FROM b WHERE congested;
