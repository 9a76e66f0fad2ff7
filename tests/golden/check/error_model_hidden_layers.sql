CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'mlp', 'hidden_layers' = '64, 32, 16');
