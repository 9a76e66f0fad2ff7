CREATE TABLE traffic (speed DOUBLE) WITH ('path' = 'x.json');
