CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id, speed_to_mph(speed) FROM traffic;
