CREATE TABLE traffic (
  sensor_id BIGINT,
  part INT METADATA FROM 'partition'
) WITH ('connector' = 'file', 'path' = 'traffic.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
