// main.c: the trpo command line (being written).
int main(void) { return 0; }
