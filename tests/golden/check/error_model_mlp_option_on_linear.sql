CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'activation' = 'tanh');
