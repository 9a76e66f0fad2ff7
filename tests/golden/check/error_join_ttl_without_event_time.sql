-- A state TTL frees rows by event time, so both inputs need one.
SET 'table.exec.state.ttl' = '10 min';
CREATE TABLE readings (sensor_id BIGINT NOT NULL, speed DOUBLE) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE labels (sensor_id BIGINT NOT NULL, congested BOOLEAN) WITH ('connector' = 'file', 'path' = 'labels.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT r.sensor_id, l.congested FROM readings r JOIN labels l ON r.sensor_id = l.sensor_id;
