CREATE TABLE readings (speed DOUBLE) WITH ('connector' = 'file', 'path' = 'r.xml', 'format' = 'xml');
