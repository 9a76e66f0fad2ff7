CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id, avg(speed) FROM traffic GROUP BY sensor_id;
