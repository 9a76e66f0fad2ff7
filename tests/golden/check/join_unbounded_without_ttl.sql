-- An inner join of two streams without a time bound plans, with a warning: its state grows without bound.
CREATE TABLE a WITH ('connector' = 'generator');
CREATE TABLE b WITH ('connector' = 'generator', 'seed' = '7');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT a.sensor_id, b.speed FROM a JOIN b ON a.sensor_id = b.sensor_id;
