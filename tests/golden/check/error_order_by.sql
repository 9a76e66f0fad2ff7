CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id, speed FROM traffic ORDER BY speed;
