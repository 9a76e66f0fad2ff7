SET 'pipeline.on-eror' = 'fail';
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT sensor_id FROM traffic;
