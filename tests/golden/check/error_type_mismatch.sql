CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id FROM traffic WHERE speed + congested > 3;
