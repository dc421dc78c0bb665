/* A main for the harnesses without libFuzzer: runs LLVMFuzzerTestOneInput once on each file
 * named on the command line (tests/native/test_native_fuzz_corpus.py replays the seed corpora, crash
 * inputs included, with any C compiler). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *data;
        long size;
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) != 0) {
            perror(argv[i]);
            return 2;
        }
        data = malloc(size ? (size_t)size : 1);
        if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
            perror(argv[i]);
            return 2;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(data, (size_t)size);
        free(data);
    }
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
