CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'file', 'path' = '/tmp/o.json', 'format' = 'json');
INSERT INTO o SELECT sensor_id, speed FROM traffic;
INSERT INTO o SELECT sensor_id FROM traffic WHERE sensor_id = 0;
