// The client-go peer of the cold-sync benchmark (bench/cold_sync.sh): creates every object of a
// multi-document YAML stream (what `jobsync render` prints) with client-go's typed clientset, as
// a Kubernetes engineer would write a bulk create, and does nothing else (no reads, no planning).
//
//	client_go_peer [-kubeconfig FILE] [-workers N] [-qps Q] [-burst B] OBJECTS.yaml
//
// Namespaces are created first, each once (one that exists already is fine: the benchmark makes
// them before the clock starts); then every other object by N workers at once. The client's rate
// limiter is set to -qps/-burst (client-go's defaults, 5 and 10, would be the bottleneck). Prints
// the number of objects created; exits 1 if any create failed, naming the first few failures.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default $KUBECONFIG)")
	workers := flag.Int("workers", 32, "creates sent at once")
	qps := flag.Float64("qps", 1000, "client-side rate limit, requests per second")
	burst := flag.Int("burst", 1000, "client-side rate limit burst")
	flag.Parse()
	if flag.NArg() != 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "usage: client_go_peer [-kubeconfig FILE] [-workers N>=1] [-qps Q] [-burst B] OBJECTS.yaml")
		os.Exit(2)
	}
	if err := run(*kubeconfig, flag.Arg(0), *workers, float32(*qps), *burst); err != nil {
		fmt.Fprintln(os.Stderr, "client_go_peer:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, objectsFile string, workers int, qps float32, burst int) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w (set KUBECONFIG or -kubeconfig)", kubeconfig, err)
	}
	config.QPS = qps
	config.Burst = burst
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("client for %s: %w", config.Host, err)
	}
	namespaces, others, err := readObjects(objectsFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var failures []error
	for _, ns := range namespaces {
		_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			failures = append(failures, fmt.Errorf("create namespace %s: %w", ns.Name, err))
		}
	}
	failures = append(failures, createAll(ctx, client, others, workers)...)
	for i, failure := range failures {
		if i == 5 {
			break
		}
		fmt.Fprintln(os.Stderr, failure)
	}
	fmt.Println(len(namespaces) + len(others) - len(failures))
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d creates failed", len(failures), len(namespaces)+len(others))
	}
	return nil
}

// readObjects decodes every document of the stream: distinct Namespaces (the stream repeats a
// job's namespace before each job) and everything else in stream order.
func readObjects(path string) ([]*corev1.Namespace, []runtime.Object, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(file))
	decoder := scheme.Codecs.UniversalDeserializer()
	seen := map[string]bool{}
	var namespaces []*corev1.Namespace
	var others []runtime.Object
	for index := 0; ; index++ {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return namespaces, others, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", path, index, err)
		}
		if len(document) == 0 || string(document) == "---\n" {
			continue
		}
		object, _, err := decoder.Decode(document, nil, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", path, index, err)
		}
		if ns, ok := object.(*corev1.Namespace); ok {
			if !seen[ns.Name] {
				seen[ns.Name] = true
				namespaces = append(namespaces, ns)
			}
			continue
		}
		others = append(others, object)
	}
}

// createAll creates `objects` with `workers` goroutines and returns the failures.
func createAll(ctx context.Context, client kubernetes.Interface, objects []runtime.Object, workers int) []error {
	var next atomic.Int64
	var mutex sync.Mutex
	var failures []error
	var group sync.WaitGroup
	for w := 0; w < workers; w++ {
		group.Add(1)
		go func() {
			defer group.Done()
			for i := next.Add(1) - 1; i < int64(len(objects)); i = next.Add(1) - 1 {
				if err := create(ctx, client, objects[i]); err != nil {
					mutex.Lock()
					failures = append(failures, err)
					mutex.Unlock()
				}
			}
		}()
	}
	group.Wait()
	return failures
}

func create(ctx context.Context, client kubernetes.Interface, object runtime.Object) error {
	options := metav1.CreateOptions{}
	switch o := object.(type) {
	case *corev1.Service:
		_, err := client.CoreV1().Services(o.Namespace).Create(ctx, o, options)
		return wrap(err, "service", o.Namespace, o.Name)
	case *batchv1.Job:
		_, err := client.BatchV1().Jobs(o.Namespace).Create(ctx, o, options)
		return wrap(err, "job", o.Namespace, o.Name)
	default:
		return fmt.Errorf("unsupported object %T: the peer creates Namespaces, Services and Jobs", object)
	}
}

func wrap(err error, kind, namespace, name string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("create %s %s/%s: %w", kind, namespace, name, err)
}
