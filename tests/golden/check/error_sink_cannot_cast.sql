CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out (sensor_id BIGINT, at DATE) WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id, congested FROM traffic;
