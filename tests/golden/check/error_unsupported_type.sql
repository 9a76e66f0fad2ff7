CREATE TABLE readings (
  speed DOUBLE,
  payload BLOB
) WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
