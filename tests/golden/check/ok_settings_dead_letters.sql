SET 'pipeline.on-error' = 'skip';
SET 'pipeline.dead-letter.table' = 'errors';
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
CREATE TABLE errors WITH ('connector' = 'file', 'path' = '/tmp/errors.json', 'format' = 'json');
INSERT INTO o SELECT sensor_id, 100 / (volume - 3) AS q FROM traffic;
