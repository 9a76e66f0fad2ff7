CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'snapshot.path' = 'm.json', 'snapshot.interval' = 'often');
INSERT INTO m SELECT speed, congested FROM traffic;
