CREATE TABLE traffic WITH (
  'connector' = 'kafak',
  'topic' = 'traffic'
);
