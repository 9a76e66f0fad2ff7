CREATE TABLE r (speed DOUBLE, speed BIGINT) WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
