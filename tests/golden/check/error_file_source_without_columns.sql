CREATE TABLE readings WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'stdout');
INSERT INTO out SELECT * FROM readings;
